//! Text columns sized to their content, for `ls -l`, `find` and
//! `snapshots`.
//!
//! Listings can hold millions of rows, so a table buffers only its first
//! [`BUFFERED_ROWS`] rows to learn the column widths; past that it streams,
//! widening a column (never narrowing it) when a longer cell comes. Short
//! listings are therefore aligned exactly, long ones nearly so, and memory
//! stays bounded.

use std::io::{self, Write};

/// Rows held back to measure column widths before the first is printed.
pub const BUFFERED_ROWS: usize = 4096;

/// How a column's cells are padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// Writes rows of cells as aligned columns one space apart, as `ls -l`
/// does; the last column is never padded.
pub struct Table<W: Write> {
    out: W,
    aligns: Vec<Align>,
    widths: Vec<usize>,
    /// Rows not printed yet; `None` once the table streams.
    pending: Option<Vec<Vec<String>>>,
    limit: usize,
}

impl<W: Write> Table<W> {
    pub fn new(out: W, aligns: &[Align]) -> Self {
        Self::with_limit(out, aligns, BUFFERED_ROWS)
    }

    /// A table that buffers at most `limit` rows (tests use small limits).
    pub fn with_limit(out: W, aligns: &[Align], limit: usize) -> Self {
        Table {
            out,
            aligns: aligns.to_vec(),
            widths: vec![0; aligns.len()],
            pending: Some(Vec::new()),
            limit,
        }
    }

    /// Adds a row: as many cells as columns.
    pub fn row(&mut self, cells: Vec<String>) -> io::Result<()> {
        for (w, c) in self.widths.iter_mut().zip(&cells) {
            *w = (*w).max(c.chars().count());
        }
        match &mut self.pending {
            Some(rows) if rows.len() < self.limit => {
                rows.push(cells);
                Ok(())
            }
            _ => {
                self.flush_pending()?;
                let line = format_row(&cells, &self.widths, &self.aligns);
                writeln!(self.out, "{line}")
            }
        }
    }

    /// The underlying writer, for lines outside the table (e.g. JSON).
    pub fn writer(&mut self) -> &mut W {
        &mut self.out
    }

    /// Prints what is still buffered and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush_pending()?;
        Ok(self.out)
    }

    fn flush_pending(&mut self) -> io::Result<()> {
        for cells in self.pending.take().unwrap_or_default() {
            let line = format_row(&cells, &self.widths, &self.aligns);
            writeln!(self.out, "{line}")?;
        }
        Ok(())
    }
}

/// One line: cells padded to `widths`, one space apart, no trailing blanks.
pub fn format_row(cells: &[String], widths: &[usize], aligns: &[Align]) -> String {
    let mut line = String::new();
    let last = cells.len().saturating_sub(1);
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        let pad = widths
            .get(i)
            .copied()
            .unwrap_or(0)
            .saturating_sub(cell.chars().count());
        let right = aligns.get(i) == Some(&Align::Right);
        if right {
            line.extend(std::iter::repeat_n(' ', pad));
        }
        line.push_str(cell);
        if !right && i < last {
            line.extend(std::iter::repeat_n(' ', pad));
        }
    }
    line.truncate(line.trim_end().len());
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(rows: &[&[&str]], limit: usize) -> String {
        let mut t = Table::with_limit(Vec::new(), &[Align::Left, Align::Right, Align::Left], limit);
        for r in rows {
            t.row(r.iter().map(|s| s.to_string()).collect()).unwrap();
        }
        String::from_utf8(t.finish().unwrap()).unwrap()
    }

    #[test]
    fn columns_take_the_width_of_their_longest_cell() {
        let out = render(
            &[
                &["a", "1", "x"],
                &["a-very-long-host-name", "123456", "y"],
                &["b", "22", "last column is not padded"],
            ],
            100,
        );
        assert_eq!(
            out,
            "a                          1 x\n\
             a-very-long-host-name 123456 y\n\
             b                         22 last column is not padded\n"
        );
    }

    #[test]
    fn past_the_buffer_columns_only_widen() {
        let out = render(
            &[&["a", "1", "x"], &["bb", "22", "y"], &["ccc", "3", "z"]],
            1,
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines, ["a   1 x", "bb 22 y", "ccc  3 z"]);
    }

    #[test]
    fn multibyte_cells_count_as_characters() {
        let out = render(&[&["ü", "1", "x"], &["ab", "1", "y"]], 10);
        assert_eq!(out, "ü  1 x\nab 1 y\n");
    }
}
