//! `cairn init`.

use cairn::crypto::KdfParams;
use cairn::repo::{InitOptions, Repository};
use cairn::{Error, Result};

use crate::cli::args::{Global, InitArgs};
use crate::cli::{exit, open, print_json};

pub fn run(g: &Global, a: InitArgs) -> Result<i32> {
    let (loc, _) = open::location(g)?;
    let storage = crate::cli::storage::open(g, &loc, true)?;
    if open::exists(&*storage)? {
        return Err(Error::Usage(format!(
            "a repository already exists at {loc}"
        )));
    }
    let kdf = match (a.kdf_memory_mib, a.kdf_iterations) {
        (None, None) => None,
        (m, t) => Some(KdfParams {
            memory_kib: m.unwrap_or(256).saturating_mul(1024),
            iterations: t.unwrap_or(3),
            parallelism: 1,
        }),
    };
    if let Some(k) = &kdf {
        k.validate()
            .map_err(|_| Error::Usage("KDF parameters out of range".into()))?;
    }
    if !(1..=1024).contains(&a.pack_size_mib) {
        return Err(Error::Usage(
            "--pack-size-mib must be between 1 and 1024".into(),
        ));
    }
    let opts = InitOptions {
        kdf,
        pack_size: a.pack_size_mib * 1024 * 1024,
        compression: (a.compression != 0).then_some(a.compression),
        ..InitOptions::default()
    };
    let pw = open::password(true)?;
    let repo = Repository::init(storage, pw.as_bytes(), opts, open::open_options(g))?;
    if g.json {
        print_json(&serde_json::json!({
            "message_type": "initialized",
            "repository": loc,
            "id": hex::encode(&repo.config().repo_id),
        }))?;
    } else if !g.quiet {
        println!(
            "created repository {} at {loc}",
            hex::encode(&repo.config().repo_id[..4])
        );
    }
    Ok(exit::OK)
}
