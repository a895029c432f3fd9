//! restic's JSON documents (design.rst, "Snapshots", "Trees and Data"):
//! snapshots and trees, decoded, and a tree node turned into the
//! [`Entry`] a cairn backup records. Modes are Go `fs.FileMode` values:
//! permission bits plus Go's own flags for setuid, setgid and sticky; the
//! file type comes from the node's `type`.

use std::path::PathBuf;

use serde::Deserialize;

use super::crypto::{corrupt, decode_base64};
use super::parse_id;
use crate::error::Result;
use crate::format::tree::{Meta, Timestamp, Xattr};
use crate::source::{Entry, EntryKind};

/// A restic snapshot, with its time parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResticSnapshot {
    pub time: (Timestamp, i32),
    pub parent: Option<[u8; 32]>,
    pub tree: [u8; 32],
    pub paths: Vec<String>,
    pub hostname: String,
    pub username: String,
    pub tags: Vec<String>,
    pub excludes: Vec<String>,
}

#[derive(Deserialize)]
struct SnapshotJson {
    time: String,
    #[serde(default)]
    parent: Option<String>,
    tree: String,
    #[serde(default)]
    paths: Option<Vec<String>>,
    #[serde(default)]
    hostname: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    excludes: Option<Vec<String>>,
}

impl ResticSnapshot {
    pub fn decode(json: &[u8], what: &str) -> Result<ResticSnapshot> {
        let j: SnapshotJson =
            serde_json::from_slice(json).map_err(|e| corrupt(what, e.to_string()))?;
        Ok(ResticSnapshot {
            time: parse_time(&j.time, what)?,
            parent: j.parent.map(|p| parse_id(&p, what)).transpose()?,
            tree: parse_id(&j.tree, what)?,
            paths: j.paths.unwrap_or_default(),
            hostname: j.hostname,
            username: j.username,
            tags: j.tags.unwrap_or_default(),
            excludes: j.excludes.unwrap_or_default(),
        })
    }
}

/// An RFC 3339 time with nanoseconds and its UTC offset in seconds.
fn parse_time(s: &str, what: &str) -> Result<(Timestamp, i32)> {
    let t = chrono::DateTime::parse_from_rfc3339(s)
        .map_err(|e| corrupt(what, format!("time {s:?}: {e}")))?;
    let ts = Timestamp {
        secs: t.timestamp(),
        nanos: t.timestamp_subsec_nanos(),
    };
    Ok((ts, t.offset().local_minus_utc()))
}

/// A directory listing.
#[derive(Debug, Deserialize)]
pub struct ResticTree {
    #[serde(default)]
    pub nodes: Option<Vec<ResticNode>>,
}

impl ResticTree {
    pub fn decode(json: &[u8], what: &str) -> Result<ResticTree> {
        serde_json::from_slice(json).map_err(|e| corrupt(what, e.to_string()))
    }
}

#[derive(Debug, Deserialize)]
struct XattrJson {
    name: String,
    #[serde(default)]
    value: Option<String>,
}

/// One node of a restic tree.
#[derive(Debug, Deserialize)]
pub struct ResticNode {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    mode: u32,
    #[serde(default)]
    mtime: Option<String>,
    #[serde(default)]
    ctime: Option<String>,
    #[serde(default)]
    uid: u32,
    #[serde(default)]
    gid: u32,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    inode: u64,
    #[serde(default)]
    device_id: u64,
    #[serde(default)]
    links: u64,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    content: Option<Vec<String>>,
    #[serde(default)]
    subtree: Option<String>,
    #[serde(default)]
    linktarget: Option<String>,
    #[serde(default)]
    linktarget_raw: Option<String>,
    #[serde(default)]
    device: u64,
    #[serde(default)]
    extended_attributes: Option<Vec<XattrJson>>,
}

// Go's fs.FileMode flags (io/fs): type bits restic masks in, and the
// setuid/setgid/sticky bits that Unix keeps in the low bits.
const GO_SETUID: u32 = 1 << 23;
const GO_SETGID: u32 = 1 << 22;
const GO_STICKY: u32 = 1 << 20;

impl ResticNode {
    /// The ids of a file's content blobs, in order.
    pub fn content(&self, what: &str) -> Result<Vec<[u8; 32]>> {
        let ids = self.content.iter().flatten();
        ids.map(|c| parse_id(c, what)).collect()
    }

    /// A directory's subtree id.
    pub fn subtree(&self, what: &str) -> Result<[u8; 32]> {
        match &self.subtree {
            Some(s) => parse_id(s, what),
            None => Err(corrupt(what, "directory without a subtree".into())),
        }
    }

    /// The cairn entry this node becomes; `path` is for messages.
    pub fn entry(&self, path: PathBuf) -> Result<Entry> {
        let what = format!("restic node {}", path.display());
        let (kind, type_bits) = match self.kind.as_str() {
            "file" => (EntryKind::File { size: self.size }, 0o100000),
            "dir" => (EntryKind::Dir, 0o040000),
            "symlink" => (
                EntryKind::Symlink {
                    target: self.link_target(&what)?,
                },
                0o120000,
            ),
            "dev" => (EntryKind::BlockDevice { rdev: self.device }, 0o060000),
            "chardev" => (EntryKind::CharDevice { rdev: self.device }, 0o020000),
            "fifo" => (EntryKind::Fifo, 0o010000),
            "socket" => (EntryKind::Socket, 0o140000),
            other => return Err(corrupt(&what, format!("unsupported node type {other:?}"))),
        };
        let m = self.mode;
        let special = [
            (GO_SETUID, 0o4000),
            (GO_SETGID, 0o2000),
            (GO_STICKY, 0o1000),
        ]
        .iter()
        .filter(|(go, _)| m & go != 0)
        .fold(0, |acc, (_, unix)| acc | unix);
        let time = |t: &Option<String>| match t {
            Some(s) => parse_time(s, &what).map(|t| t.0),
            None => Ok(Timestamp::default()),
        };
        let meta = Meta {
            mode: type_bits | special | (m & 0o777),
            uid: self.uid,
            gid: self.gid,
            user: self.user.clone().unwrap_or_default(),
            group: self.group.clone().unwrap_or_default(),
            mtime: time(&self.mtime)?,
            ctime: time(&self.ctime)?,
            inode: self.inode,
            device: self.device_id,
            links: self.links,
            xattrs: self.xattrs(&what)?,
        };
        Ok(Entry {
            name: self.name_bytes(),
            path,
            kind,
            meta,
            xattrs_deferred: false,
        })
    }

    /// The byte-exact name. restic stores names escaped as by Go's
    /// `strconv.Quote` without the quotes (design.rst, "Trees and Data"),
    /// which carries non-UTF-8 bytes as `\xHH`; a name that does not
    /// unquote is taken as it is.
    pub fn name_bytes(&self) -> Vec<u8> {
        go_unquote(&self.name).unwrap_or_else(|| self.name.as_bytes().to_vec())
    }

    /// `linktarget_raw` (base64, set when the target is not UTF-8) wins.
    fn link_target(&self, what: &str) -> Result<Vec<u8>> {
        match (&self.linktarget_raw, &self.linktarget) {
            (Some(raw), _) => decode_base64(raw, what),
            (None, Some(t)) => Ok(t.as_bytes().to_vec()),
            (None, None) => Err(corrupt(what, "symlink without a target".into())),
        }
    }

    fn xattrs(&self, what: &str) -> Result<Vec<Xattr>> {
        let mut out = Vec::new();
        for x in self.extended_attributes.iter().flatten() {
            let value = match &x.value {
                Some(v) => decode_base64(v, what)?,
                None => Vec::new(),
            };
            out.push(Xattr {
                name: x.name.as_bytes().to_vec(),
                value,
            });
        }
        out.sort();
        out.dedup_by(|a, b| a.name == b.name);
        Ok(out)
    }
}

/// The bytes a Go double-quoted string literal's body denotes, or `None`
/// when it is not a valid one (an unescaped `"`, a bad escape).
fn go_unquote(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return None,
            '\\' => {}
            c => {
                out.extend(c.encode_utf8(&mut [0; 4]).as_bytes());
                continue;
            }
        }
        let simple = |b: u8| Some(vec![b]);
        let bytes = match chars.next()? {
            'a' => simple(7),
            'b' => simple(8),
            'f' => simple(12),
            'n' => simple(b'\n'),
            'r' => simple(b'\r'),
            't' => simple(b'\t'),
            'v' => simple(11),
            '\\' => simple(b'\\'),
            '\'' => simple(b'\''),
            '"' => simple(b'"'),
            'x' => simple(hex(&mut chars, 2)? as u8),
            'u' => char::from_u32(hex(&mut chars, 4)?).map(|c| c.to_string().into_bytes()),
            'U' => char::from_u32(hex(&mut chars, 8)?).map(|c| c.to_string().into_bytes()),
            d @ '0'..='7' => {
                let rest: String = chars.by_ref().take(2).collect();
                let v = u32::from_str_radix(&format!("{d}{rest}"), 8).ok()?;
                (rest.len() == 2 && v <= 255).then(|| vec![v as u8])
            }
            _ => None,
        }?;
        out.extend(bytes);
    }
    Some(out)
}

/// The value of the next `n` hex digits.
fn hex(chars: &mut std::str::Chars, n: usize) -> Option<u32> {
    let digits: String = chars.take(n).collect();
    (digits.len() == n).then(|| u32::from_str_radix(&digits, 16).ok())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_unquote_as_go_quotes_them() {
        assert_eq!(go_unquote(r"bad\xffname").unwrap(), b"bad\xffname");
        assert_eq!(go_unquote(r#"a\nb\tc\\d\"e"#).unwrap(), b"a\nb\tc\\d\"e");
        assert_eq!(
            go_unquote(r"\u00e9\U0001F600\101").unwrap(),
            "éπA".replace('π', "😀").as_bytes()
        );
        assert_eq!(go_unquote("plain ünï").unwrap(), "plain ünï".as_bytes());
        for bad in [r"\", r"\x4", r"\q", "a\"b", r"\777", r"\ud800"] {
            assert_eq!(go_unquote(bad), None, "{bad}");
        }
    }
}

#[cfg(test)]
mod json_tests {
    use super::*;

    #[test]
    fn node_modes_times_and_targets() {
        let json = br#"{"nodes":[
            {"name":"d","type":"dir","mode":2147484141,"mtime":"2026-12-06T12:59:32.098935944+01:00","subtree":"79447aa464d8e57c1c2a92f3edd6a32e66d8287002710d9d0c5d37235a40b984"},
            {"name":"l","type":"symlink","mode":134218239,"linktarget":"x","linktarget_raw":"/w=="},
            {"name":"s","type":"file","mode":8389101,"size":3,"content":null,
             "extended_attributes":[{"name":"user.b","value":"Yg=="},{"name":"user.a","value":null}]}
        ]}"#;
        let t = ResticTree::decode(json, "t").unwrap();
        let n = t.nodes.unwrap();
        let d = n[0].entry("d".into()).unwrap();
        assert_eq!(d.meta.mode, 0o040755);
        assert_eq!(d.meta.mtime.secs, 1796558372);
        assert_eq!(d.meta.mtime.nanos, 98935944);
        let l = n[1].entry("l".into()).unwrap();
        assert_eq!(l.kind, EntryKind::Symlink { target: vec![0xff] });
        let s = n[2].entry("s".into()).unwrap();
        assert_eq!(s.meta.mode, 0o104755, "setuid file");
        assert_eq!(s.meta.xattrs[0].name, b"user.a");
        assert_eq!(s.meta.xattrs[1].value, b"b");
    }

    #[test]
    fn hostile_json_is_an_error_never_a_panic() {
        for bad in [
            &br#"{"nodes":[{"name":"x","type":"weird"}]}"#[..],
            br#"{"nodes":[{"name":"x","type":"file","mtime":"yesterday"}]}"#,
            br#"{"nodes":[{"name":"x","type":"symlink"}]}"#,
            br#"{"nodes":[{"name":"x","type":"file","extended_attributes":[{"name":"a","value":"%%"}]}]}"#,
        ] {
            let t = ResticTree::decode(bad, "t").unwrap();
            assert!(t.nodes.unwrap()[0].entry("x".into()).is_err());
        }
        for bad in [
            &b"{"[..],
            br#"{"nodes":7}"#,
            br#"{"nodes":[{"type":"file"}]}"#,
        ] {
            assert!(ResticTree::decode(bad, "t").is_err());
        }
        for bad in [
            &br#"{"time":"x","tree":"00"}"#[..],
            br#"{"time":"2026-12-06T12:59:32Z","tree":"00"}"#,
            br#"{"time":"2026-12-06T12:59:32Z"}"#,
            b"[]",
        ] {
            assert!(ResticSnapshot::decode(bad, "t").is_err());
        }
    }
}
