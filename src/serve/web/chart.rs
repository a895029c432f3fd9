//! A repository's small chart, drawn on the server as inline SVG (no
//! script, no library): bars for the bytes each backup added to the
//! repository, a line for the repository's growth (the running sum of the
//! bytes stored by backups; a prune's savings are not subtracted).

use maud::{html, Markup};

use super::layout::bytes;
use crate::serve::api::snapshots::SnapshotView;

/// Drawn: at most this many of the newest snapshots.
pub const POINTS: usize = 60;

const W: f64 = 300.0;
const H: f64 = 64.0;

/// One backup: when, the growth so far, what it added.
#[derive(Debug, Clone, Copy)]
pub struct Point {
    pub grown: u64,
    pub added: u64,
}

/// The points of `snaps` (oldest first): growth summed over all of them,
/// the newest [`POINTS`] kept.
pub fn points(snaps: &[SnapshotView]) -> Vec<Point> {
    let mut grown = 0u64;
    let mut all: Vec<Point> = snaps
        .iter()
        .map(|s| {
            grown = grown.saturating_add(s.summary.bytes_added_stored);
            Point {
                grown,
                added: s.summary.bytes_added_stored,
            }
        })
        .collect();
    let skip = all.len().saturating_sub(POINTS);
    all.drain(..skip);
    all
}

/// The chart of `pts`, described for screen readers in its title.
pub fn svg(repo: &str, pts: &[Point]) -> Markup {
    let max_grown = pts.iter().map(|p| p.grown).max().unwrap_or(0).max(1) as f64;
    let max_added = pts.iter().map(|p| p.added).max().unwrap_or(0).max(1) as f64;
    let step = W / pts.len().max(1) as f64;
    let line: Vec<String> = pts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let x = step * (i as f64 + 0.5);
            let y = H - 2.0 - (p.grown as f64 / max_grown) * (H - 4.0);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let last = pts.last().copied();
    let title = match last {
        Some(p) => format!(
            "{repo}: {} backups shown; grown to {}; the last added {}",
            pts.len(),
            bytes(p.grown),
            bytes(p.added)
        ),
        None => format!("{repo}: no snapshots yet"),
    };
    html! {
        figure.chart {
            svg viewBox={ "0 0 " (W) " " (H) } width="300" height="64" role="img" aria-label=(title) {
                title { (title) }
                @for (i, p) in pts.iter().enumerate() {
                    @let h = (p.added as f64 / max_added) * (H / 2.0);
                    rect class="bar" x=(format!("{:.1}", step * i as f64 + step * 0.15))
                        y=(format!("{:.1}", H - h)) width=(format!("{:.1}", step * 0.7))
                        height=(format!("{:.1}", h)) {}
                }
                @if !line.is_empty() {
                    polyline class="grown" points=(line.join(" ")) {}
                }
            }
            figcaption {
                span.key-grown { "growth" } " "
                span.key-added { "added per backup" }
                @if let Some(p) = last { " · " (bytes(p.grown)) " stored by backups" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_sums_every_snapshot_and_keeps_the_newest_points() {
        let view = |added| SnapshotView {
            id: String::new(),
            short_id: String::new(),
            time: String::new(),
            host: String::new(),
            username: String::new(),
            tags: vec![],
            paths: vec![],
            parent: None,
            summary: cairn::format::snapshot::Summary {
                bytes_added_stored: added,
                ..Default::default()
            },
        };
        let snaps: Vec<_> = (1..=100).map(view).collect();
        let pts = points(&snaps);
        assert_eq!(pts.len(), POINTS);
        assert_eq!(pts.last().unwrap().grown, 5050);
        assert_eq!(pts.last().unwrap().added, 100);
        let text = svg("<r>", &pts).into_string();
        assert_eq!(text.matches("<rect").count(), POINTS);
        assert!(text.contains("&lt;r&gt;") && !text.contains("<r>"));
    }
}
