//! A repository's small chart, drawn on the server as inline SVG (no
//! script, no library): bars for the bytes each backup added to the
//! repository, a line for the repository's size after each backup as the
//! service measured it (its packs listed at the end of the job), so a
//! prune's savings show at the next backup. Snapshots the service did not
//! make carry the last size measured before them.

use std::collections::HashMap;

use maud::{html, Markup};

use super::layout::bytes;
use crate::serve::api::snapshots::SnapshotView;

/// Drawn: at most this many of the newest snapshots.
pub const POINTS: usize = 60;

const W: f64 = 300.0;
const H: f64 = 64.0;

/// One backup: the repository's size after it (when measured), what it added.
#[derive(Debug, Clone, Copy)]
pub struct Point {
    pub size: Option<u64>,
    pub added: u64,
}

/// What a chart shows: the newest [`POINTS`] backups and the repository's
/// latest measured size (after a backup or a prune).
#[derive(Debug, Clone, Default)]
pub struct Chart {
    pub points: Vec<Point>,
    pub latest: Option<u64>,
}

/// The chart of `snaps` (oldest first) with `sizes`, the history's
/// `(snapshot, repository bytes)` records, newest first.
pub fn chart(snaps: &[SnapshotView], sizes: &[(Option<String>, u64)]) -> Chart {
    let by_snapshot: HashMap<&str, u64> = sizes
        .iter()
        .filter_map(|(s, b)| Some((s.as_deref()?, *b)))
        .collect();
    let skip = snaps.len().saturating_sub(POINTS);
    let mut size = None;
    let points = snaps[skip..]
        .iter()
        .map(|s| {
            size = by_snapshot.get(s.id.as_str()).copied().or(size);
            Point {
                size,
                added: s.summary.bytes_added_stored,
            }
        })
        .collect();
    Chart {
        points,
        latest: sizes.first().map(|(_, b)| *b),
    }
}

/// The chart `c`, described for screen readers in its title.
pub fn svg(repo: &str, c: &Chart) -> Markup {
    let pts = &c.points;
    let max_size = pts.iter().filter_map(|p| p.size).max().unwrap_or(0).max(1) as f64;
    let max_added = pts.iter().map(|p| p.added).max().unwrap_or(0).max(1) as f64;
    let step = W / pts.len().max(1) as f64;
    let line: Vec<String> = pts
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let x = step * (i as f64 + 0.5);
            let y = H - 2.0 - (p.size? as f64 / max_size) * (H - 4.0);
            Some(format!("{x:.1},{y:.1}"))
        })
        .collect();
    let size = match c.latest {
        Some(b) => format!("the repository holds {}", bytes(b)),
        None => "size not measured yet (by a backup or prune of the service)".to_string(),
    };
    let title = match pts.last() {
        Some(p) => format!(
            "{repo}: {} backups shown; {size}; the last added {}",
            pts.len(),
            bytes(p.added)
        ),
        None => format!("{repo}: no snapshots yet; {size}"),
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
                span.key-grown { "size" } " "
                span.key-added { "added per backup" }
                @if let Some(b) = c.latest { " · " (bytes(b)) " stored" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(id: usize, added: u64) -> SnapshotView {
        SnapshotView {
            id: format!("s{id}"),
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
        }
    }

    #[test]
    fn sizes_come_from_the_history_and_a_prune_shows() {
        let snaps: Vec<_> = (1..=100).map(|i| view(i, i as u64)).collect();
        // Newest first: a prune (no snapshot) shrank the repository after s99's backup.
        let sizes = [
            (Some("s100".to_string()), 700),
            (None, 650),
            (Some("s99".to_string()), 900),
            (Some("s41".to_string()), 500),
            (Some("s20".to_string()), 100),
        ];
        let c = chart(&snaps, &sizes);
        assert_eq!(c.points.len(), POINTS);
        // s41 is the first point shown; s20 is cut off, so nothing before s41 is known.
        assert_eq!(c.points[0].size, Some(500));
        assert_eq!(
            c.points[1].size,
            Some(500),
            "carried to a snapshot not measured"
        );
        assert_eq!(c.points[POINTS - 2].size, Some(900));
        assert_eq!(c.points[POINTS - 1].size, Some(700));
        assert_eq!(c.points[POINTS - 1].added, 100);
        assert_eq!(c.latest, Some(700));
        let text = svg("<r>", &c).into_string();
        assert_eq!(text.matches("<rect").count(), POINTS);
        assert!(text.contains("&lt;r&gt;") && !text.contains("<r>"));
        assert!(text.contains("700 B stored"), "{text}");
    }

    #[test]
    fn a_repository_the_service_never_measured_draws_no_size_line() {
        let snaps: Vec<_> = (1..=3).map(|i| view(i, 10)).collect();
        let c = chart(&snaps, &[]);
        assert!(c.points.iter().all(|p| p.size.is_none()));
        let text = svg("r", &c).into_string();
        assert!(!text.contains("polyline"));
        assert!(text.contains("size not measured yet"));
    }
}
