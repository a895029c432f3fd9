//! Id lists against the index files they mirror (format-spec/18-put-only.md,
//! "Id lists"): a put-only client deduplicates by them, so a list that does
//! not mirror its index file exactly (a put-only holder can write lying
//! ones) or does not open is damage; one whose index file is gone (prune
//! stopped before deleting it) is only a warning, since the pack listing
//! decides what a client trusts.

use std::collections::HashSet;

use crate::check::Problem;
use crate::error::{ErrorKind, Result};
use crate::format::id_list::IdList;
use crate::ids::{IdListId, IndexId};
use crate::repo::Repository;

/// Adds a finding to `problems` for every id list that is not a faithful
/// mirror of a stored index file.
pub(super) fn check(repo: &Repository, problems: &mut Vec<Problem>) -> Result<()> {
    let lists = repo.id_lists()?;
    if lists.is_empty() {
        return Ok(());
    }
    let stored: HashSet<IndexId> = repo.index_ids()?.into_iter().collect();
    for (id, list) in lists {
        let object = format!("id list {id}");
        match list {
            Ok(list) if !stored.contains(&list.index) => problems.push(Problem::warning(
                object,
                format!(
                    "its index file {} is gone (an interrupted prune): the next prune deletes it",
                    list.index
                ),
            )),
            Ok(list) => mirror(repo, id, &list, problems)?,
            Err(e) => problems.push(Problem::damage(
                object,
                format!(
                    "{e}: put-only clients ignore it; `cairn key backfill-ids` writes a good one"
                ),
            )),
        }
    }
    Ok(())
}

/// Compares one list with the index file it names.
fn mirror(repo: &Repository, id: IdListId, list: &IdList, out: &mut Vec<Problem>) -> Result<()> {
    let file = match repo.load_index_file(&list.index) {
        Ok(f) => f,
        // The index file's own damage is reported by the structure check.
        Err(e) if e.kind() == ErrorKind::Corrupt => return Ok(()),
        Err(e) => return Err(e),
    };
    if !list.mirrors(&list.index, &file) {
        out.push(Problem::damage(
            format!("id list {id}"),
            format!(
                "does not mirror index file {}: put-only clients could deduplicate against \
                 blobs it does not hold (delete it, then `cairn key backfill-ids`)",
                list.index
            ),
        ));
    }
    Ok(())
}
