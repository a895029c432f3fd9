//! tar output: POSIX ustar headers plus pax extended headers wherever ustar
//! falls short, so GNU tar and bsdtar restore exactly what the tree holds:
//!
//! - `path` / `linkpath` for names over 100 bytes or not UTF-8 (then with
//!   `hdrcharset=BINARY`, and the raw bytes as the value);
//! - `mtime` with nanoseconds, always;
//! - `uid`, `gid`, `size` beyond ustar's octal fields, `uname` / `gname`
//!   beyond 32 bytes;
//! - `SCHILY.xattr.NAME` for extended attributes (GNU tar: `--xattrs`).
//!
//! Hard links (same device and inode, link count over 1, same content) are
//! written once, then as link entries naming the first path. Sockets cannot
//! be archived and are counted as skipped.

use std::collections::HashMap;
use std::io::Write;

use tar::{Builder, EntryType, Header};

use crate::error::{Error, Result};
use crate::format::tree::{Node, NodeKind};
use crate::repo::Repository;

use super::{walk, ArchiveStats, ContentReader};

/// ustar's numeric field limits: 7 octal digits for ids, 11 for sizes.
const MAX_USTAR_ID: u64 = 0o7_777_777;
const MAX_USTAR_SIZE: u64 = 0o77_777_777_777;

pub(super) fn write<W: Write>(
    repo: &Repository,
    node: &Node,
    path: &[u8],
    out: W,
) -> Result<(W, ArchiveStats)> {
    let mut b = Builder::new(out);
    let mut stats = ArchiveStats::default();
    // (device, inode) → the first archived name and its content.
    let mut links: HashMap<(u64, u64), (Vec<u8>, NodeKind)> = HashMap::new();
    walk(repo, node, path, &mut |name, n| {
        let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
        let mut h = Header::new_ustar();
        // An empty (all-NUL) size field is a parse error to strict readers
        // (the `tar` crate, Go's archive/tar): every entry says its size.
        h.set_size(0);
        let mut entry_name = name.to_vec();
        if matches!(n.kind, NodeKind::Dir { .. }) {
            entry_name.push(b'/');
        }
        set_name(&mut h, &entry_name, &mut pax, "path");
        set_common(&mut h, n, &mut pax);
        let key = (n.meta.device, n.meta.inode);
        let link_of = match &n.kind {
            NodeKind::File { .. } | NodeKind::Sqlite { .. } if n.meta.links > 1 => links
                .get(&key)
                .filter(|(_, kind)| *kind == n.kind)
                .map(|(first, _)| first.clone()),
            _ => None,
        };
        if let Some(first) = link_of {
            h.set_entry_type(EntryType::Link);
            h.set_size(0);
            set_name(&mut h, &first, &mut pax, "linkpath");
            stats.hardlinks += 1;
            return append(&mut b, &mut h, &pax, &entry_name, &mut std::io::empty());
        }
        match &n.kind {
            NodeKind::File { size, content } | NodeKind::Sqlite { size, content, .. } => {
                h.set_entry_type(EntryType::Regular);
                h.set_size(*size);
                if *size > MAX_USTAR_SIZE {
                    pax.push(("size".into(), size.to_string().into_bytes()));
                }
                if n.meta.links > 1 {
                    links.insert(key, (name.to_vec(), n.kind.clone()));
                }
                let mut r = ContentReader::new(repo, content);
                let copied = append_io(&mut b, &mut h, &pax, &entry_name, &mut r);
                stats.bytes += r.finish(copied, *size, name)?;
                stats.files += 1;
                Ok(())
            }
            NodeKind::Dir { .. } => {
                h.set_entry_type(EntryType::Directory);
                stats.dirs += 1;
                append(&mut b, &mut h, &pax, &entry_name, &mut std::io::empty())
            }
            NodeKind::Symlink { target } => {
                h.set_entry_type(EntryType::Symlink);
                set_name(&mut h, target, &mut pax, "linkpath");
                stats.symlinks += 1;
                append(&mut b, &mut h, &pax, &entry_name, &mut std::io::empty())
            }
            NodeKind::BlockDevice { rdev } | NodeKind::CharDevice { rdev } => {
                h.set_entry_type(if matches!(n.kind, NodeKind::BlockDevice { .. }) {
                    EntryType::Block
                } else {
                    EntryType::Char
                });
                let io = |e| Error::io("<archive>", e);
                h.set_device_major(libc::major(*rdev as libc::dev_t))
                    .map_err(io)?;
                h.set_device_minor(libc::minor(*rdev as libc::dev_t))
                    .map_err(io)?;
                stats.specials += 1;
                append(&mut b, &mut h, &pax, &entry_name, &mut std::io::empty())
            }
            NodeKind::Fifo => {
                h.set_entry_type(EntryType::Fifo);
                stats.specials += 1;
                append(&mut b, &mut h, &pax, &entry_name, &mut std::io::empty())
            }
            NodeKind::Socket => {
                stats.skipped += 1;
                Ok(())
            }
        }
    })?;
    let out = b.into_inner().map_err(|e| Error::io("<archive>", e))?;
    Ok((out, stats))
}

/// Puts `value` into the ustar name (`path`) or link name (`linkpath`)
/// field, adding a pax record when it does not fit or is not UTF-8.
fn set_name(h: &mut Header, value: &[u8], pax: &mut Vec<(String, Vec<u8>)>, key: &str) {
    let field: &mut [u8; 100] = match key {
        "path" => &mut h.as_old_mut().name,
        _ => &mut h.as_old_mut().linkname,
    };
    let n = value.len().min(field.len());
    field.fill(0);
    field[..n].copy_from_slice(&value[..n]);
    let utf8 = std::str::from_utf8(value).is_ok();
    if value.len() > field.len() || !utf8 {
        if !utf8 && !pax.iter().any(|(k, _)| k == "hdrcharset") {
            pax.push(("hdrcharset".into(), b"BINARY".to_vec()));
        }
        pax.push((key.into(), value.to_vec()));
    }
}

/// Mode, owner, mtime and xattrs, with pax records where ustar cannot say it.
fn set_common(h: &mut Header, n: &Node, pax: &mut Vec<(String, Vec<u8>)>) {
    let m = &n.meta;
    h.set_mode(m.mode & 0o7777);
    for (id, key, set) in [
        (m.uid as u64, "uid", Header::set_uid as fn(&mut Header, u64)),
        (m.gid as u64, "gid", Header::set_gid),
    ] {
        if id > MAX_USTAR_ID {
            pax.push((key.into(), id.to_string().into_bytes()));
            set(h, 0);
        } else {
            set(h, id);
        }
    }
    for (name, key, field) in [(&m.user, "uname", 0), (&m.group, "gname", 1)] {
        let ok = if field == 0 {
            h.set_username(name)
        } else {
            h.set_groupname(name)
        };
        if ok.is_err() {
            pax.push((key.into(), name.as_bytes().to_vec()));
        }
    }
    h.set_mtime(m.mtime.secs.max(0) as u64);
    pax.push((
        "mtime".into(),
        format!("{}.{:09}", m.mtime.secs, m.mtime.nanos).into_bytes(),
    ));
    for x in &m.xattrs {
        // pax keys are UTF-8 text; an xattr name that is not cannot be carried.
        if let Ok(name) = std::str::from_utf8(&x.name) {
            pax.push((format!("SCHILY.xattr.{name}"), x.value.clone()));
        }
    }
}

/// Encodes pax records: `"<len> <key>=<value>\n"`, where `len` counts the
/// whole record including its own digits.
fn pax_records(records: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in records {
        let base = k.len() + v.len() + 3;
        let mut len = base + 1;
        while base + len.to_string().len() != len {
            len += 1;
        }
        out.extend_from_slice(format!("{len} {k}=").as_bytes());
        out.extend_from_slice(v);
        out.push(b'\n');
    }
    out
}

fn append<W: Write>(
    b: &mut Builder<W>,
    h: &mut Header,
    pax: &[(String, Vec<u8>)],
    name: &[u8],
    data: &mut dyn std::io::Read,
) -> Result<()> {
    append_io(b, h, pax, name, data).map_err(|e| Error::io("<archive>", e))
}

/// Writes the pax header (when there are records), then the entry.
fn append_io<W: Write>(
    b: &mut Builder<W>,
    h: &mut Header,
    pax: &[(String, Vec<u8>)],
    name: &[u8],
    data: &mut dyn std::io::Read,
) -> std::io::Result<()> {
    if !pax.is_empty() {
        let records = pax_records(pax);
        let mut x = Header::new_ustar();
        x.set_entry_type(EntryType::XHeader);
        let mut xname = b"PaxHeaders/".to_vec();
        let base = name
            .rsplit(|&c| c == b'/')
            .find(|s| !s.is_empty())
            .unwrap_or(b"");
        xname.extend_from_slice(&base[..base.len().min(80)]);
        let field = &mut x.as_old_mut().name;
        field[..xname.len()].copy_from_slice(&xname);
        x.set_mode(0o644);
        x.set_size(records.len() as u64);
        x.set_mtime(0);
        x.set_cksum();
        b.append(&x, records.as_slice())?;
    }
    h.set_cksum();
    b.append(h, data)
}

#[cfg(test)]
mod tests {
    use super::pax_records;

    #[test]
    fn pax_record_lengths_count_themselves() {
        let r = pax_records(&[("path".into(), b"abc".to_vec())]);
        assert_eq!(r, b"12 path=abc\n");
        // Crossing a digit boundary: 9 + 1 digit would be 10, which needs 2 digits.
        let r = pax_records(&[("a".into(), vec![b'x'; 5])]);
        assert_eq!(r, b"11 a=xxxxx\n");
        let long = vec![b'y'; 200];
        let r = pax_records(&[("path".into(), long)]);
        let len: usize = std::str::from_utf8(&r[..3]).unwrap().parse().unwrap();
        assert_eq!(len, r.len());
    }
}
