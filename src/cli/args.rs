//! Every command-line argument, in one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// cairn: encrypted, deduplicating backups.
#[derive(Parser, Debug)]
#[command(name = "cairn", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Repository location: a directory, s3:[https://ENDPOINT/]BUCKET[/PREFIX],
    /// r2:ACCOUNT_ID/BUCKET[/PREFIX] or rest:http://HOST:PORT/ (a `cairn serve-repo`
    /// proxy; token in CAIRN_REST_TOKEN or CAIRN_REST_TOKEN_FILE). Default: a
    /// repository in your data directory.
    #[arg(short = 'r', long = "repo", env = "CAIRN_REPOSITORY", global = true)]
    pub repo: Option<String>,
    /// Machine-readable output on stdout (docs/json.md); progress and warnings
    /// go to stderr as JSON lines.
    #[arg(long, global = true)]
    pub json: bool,
    /// Only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Log what happens (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Directory for the local index and tree cache (docs/cache.md).
    #[arg(long, env = "CAIRN_CACHE_DIR", global = true)]
    pub cache_dir: Option<PathBuf>,
    /// Read the repository password from this file (trailing newlines are ignored).
    #[arg(long, global = true, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Run this shell command and use what it prints as the password.
    #[arg(long, global = true, value_name = "CMD")]
    pub password_command: Option<String>,
    #[command(flatten)]
    pub backend: crate::cli::storage::BackendArgs,
    /// The configuration file (docs/config.md) that `-P` and `serve` read.
    /// Default: cairn/config.toml in your config directory.
    #[arg(long, env = "CAIRN_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Use the repository named NAME in the configuration file (its location,
    /// password source and S3 settings).
    #[arg(
        short = 'P',
        long,
        env = "CAIRN_PROFILE",
        global = true,
        value_name = "NAME"
    )]
    pub profile: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a repository.
    Init(InitArgs),
    /// Back up files and directories (or standard input).
    Backup(BackupArgs),
    /// List snapshots.
    Snapshots(SnapshotsArgs),
    /// Restore a snapshot, or part of it.
    Restore(RestoreArgs),
    /// List the files in a snapshot.
    Ls(LsArgs),
    /// Write one file of a snapshot, or a directory as tar or zip, to standard output.
    Dump(DumpArgs),
    /// Print a repository object, decoded, as JSON.
    Cat(CatArgs),
    /// Verify the repository: structure always, pack data with --read-data.
    Check(CheckArgs),
    /// Commands about the repository's storage (`repo ping`).
    Repo(crate::cli::repo::RepoArgs),
    /// Free the space of data no snapshot references (two-phase, never blocks backups).
    Prune(crate::cli::prune::PruneArgs),
    /// Remove the maintenance lock left by a crashed prune.
    Unlock(crate::cli::prune::UnlockArgs),
    /// Remove snapshots by a retention policy (the given rules, or the stored policy).
    Forget(crate::cli::forget::ForgetArgs),
    /// Store, show or clear the repository's retention policy.
    Policy(crate::cli::policy::PolicyArgs),
    /// Repair the index or damaged snapshots (never deletes a pack).
    Repair(crate::cli::repair::RepairArgs),
    /// Browse the repository as a read-only filesystem (FUSE) until Ctrl-C.
    Mount(crate::cli::mount::MountArgs),
    /// Find files by name or path pattern across snapshots.
    Find(crate::cli::find::FindArgs),
    /// Show what changed between two snapshots.
    Diff(crate::cli::diff::DiffArgs),
    /// Write snapshots, with their trees and data, to an encrypted bundle file.
    Export(crate::cli::export::ExportArgs),
    /// Add the snapshots of a bundle file to this repository.
    Import(crate::cli::export::ImportArgs),
    /// Run the backup service: scheduled plans, job history, REST API, metrics.
    Serve(crate::cli::serve::ServeArgs),
    /// Serve this repository's storage over HTTP to `rest:` clients holding a
    /// token (append-only or full), keeping the bucket credentials here.
    ServeRepo(crate::cli::serve_repo::ServeRepoArgs),
    /// Manage the key files (passwords) that open the repository.
    Key(crate::cli::key::KeyArgs),
    /// Copy snapshots, with their trees and data, into another repository.
    Copy(crate::cli::copy::CopyArgs),
    /// Import every snapshot of a restic repository (password from
    /// RESTIC_PASSWORD_FILE or RESTIC_PASSWORD); reruns skip what is there.
    ImportRestic(crate::cli::import_restic::ImportResticArgs),
    /// Statistics of snapshots: files, logical, unique and stored bytes, dedup, largest prefixes.
    Stats(crate::cli::stats::StatsArgs),
    /// Print the shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(crate::cli::generate::CompletionsArgs),
    /// Write the man pages (one per command) into a directory.
    Man(crate::cli::generate::ManArgs),
}

/// Argon2id cost for a new key file or bundle.
#[derive(Args, Debug, Clone)]
pub struct KdfArgs {
    /// Argon2id memory in MiB [default: 64; at least 19].
    #[arg(long)]
    pub kdf_memory_mib: Option<u32>,
    /// Argon2id passes [default: 3; 19 MiB needs at least 2].
    #[arg(long)]
    pub kdf_iterations: Option<u32>,
    /// Allow KDF parameters below the floor (for tests; a stolen key file
    /// is then cheap to attack).
    #[arg(long)]
    pub insecure_kdf: bool,
}

#[derive(Args, Debug)]
pub struct InitArgs {
    #[command(flatten)]
    pub kdf: KdfArgs,
    /// Target pack size in MiB.
    #[arg(long, default_value_t = 16)]
    pub pack_size_mib: u32,
    /// zstd level for new data (-131072..=22, negative are fast levels);
    /// 0 stores data uncompressed.
    #[arg(long, default_value_t = 3, allow_negative_numbers = true)]
    pub compression: i32,
    /// Write every immutable object with S3 Object Lock retention of DAYS
    /// (the bucket must have Object Lock enabled); prune and forget then
    /// delete nothing still retained.
    #[arg(long, value_name = "DAYS", conflicts_with = "lock_rules")]
    pub object_lock: Option<u32>,
    /// Object Lock mode: compliance (nobody can shorten or delete) or
    /// governance (principals allowed to bypass governance can).
    #[arg(long, value_name = "MODE", default_value = "compliance", value_parser = ["compliance", "governance"], requires = "object_lock")]
    pub lock_mode: String,
    /// The bucket has R2 bucket-lock rules of DAYS (see `cairn repo
    /// lock-rules`); prune and forget delete nothing younger.
    #[arg(long, value_name = "DAYS")]
    pub lock_rules: Option<u32>,
    /// Cut and name data exactly as the repository at LOCATION does (its
    /// chunker, id key and gear table; fresh encryption keys), so `cairn
    /// copy` between the two keeps every blob id and deduplicates fully.
    /// Its password: --from-password-file, CAIRN_FROM_PASSWORD_FILE or
    /// CAIRN_FROM_PASSWORD.
    #[arg(long, value_name = "LOCATION")]
    pub copy_chunking_from: Option<String>,
    /// File holding the password of --copy-chunking-from's repository.
    #[arg(long, value_name = "FILE", requires = "copy_chunking_from")]
    pub from_password_file: Option<std::path::PathBuf>,
}

/// Which snapshots a command looks at.
#[derive(Args, Debug, Clone, Default)]
pub struct Filter {
    /// Only snapshots of this host (repeatable).
    #[arg(long = "host", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub hosts: Vec<String>,
    /// Only snapshots with this tag (repeatable; all must match).
    #[arg(long = "tag", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub tags: Vec<String>,
    /// Only snapshots that include this path (repeatable; relative paths and
    /// trailing slashes are normalised as backup does).
    #[arg(long = "path", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub paths: Vec<String>,
}

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Files and directories to back up.
    #[arg(required_unless_present_any = ["stdin", "stdin_from_command", "sqlite"])]
    pub paths: Vec<PathBuf>,
    /// Leave out paths matching this gitignore-style pattern (repeatable).
    #[arg(short = 'e', long)]
    pub exclude: Vec<String>,
    /// Read exclude patterns from this file, one per line (repeatable).
    #[arg(long)]
    pub exclude_file: Vec<PathBuf>,
    /// Leave out directories that contain a file of this name (repeatable).
    #[arg(long)]
    pub exclude_if_present: Vec<String>,
    /// Do not cross into other file systems.
    #[arg(short = 'x', long)]
    pub one_file_system: bool,
    /// Tag the snapshot (repeatable).
    #[arg(long, value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub tag: Vec<String>,
    /// Host name to record (default: this machine's).
    #[arg(long, value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub host: Option<String>,
    /// Snapshot time, e.g. "2026-11-01 12:00" (default: now).
    #[arg(long)]
    pub time: Option<String>,
    /// Read and chunk everything, write nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Back up standard input as one file.
    #[arg(long, conflicts_with = "paths")]
    pub stdin: bool,
    /// Back up the standard output of the command given after `--` (run
    /// directly, no shell) as one file. A command that exits non-zero or is
    /// killed saves no snapshot (exit 7).
    #[arg(long, conflicts_with_all = ["paths", "stdin"], requires = "command")]
    pub stdin_from_command: bool,
    /// The program and arguments for --stdin-from-command.
    #[arg(last = true, value_name = "CMD", requires = "stdin_from_command")]
    pub command: Vec<String>,
    /// File name for --stdin and --stdin-from-command.
    #[arg(long, default_value = "stdin")]
    pub stdin_filename: String,
    /// Run this shell command before the backup writes anything (stop or
    /// flush what is backed up); if it fails, nothing is written (exit 7).
    #[arg(long, value_name = "CMD")]
    pub hook_before: Option<String>,
    /// Run this shell command after the backup, whatever its outcome
    /// ($CAIRN_RESULT is ok or failed); if it fails, the exit code is 7.
    #[arg(long, value_name = "CMD")]
    pub hook_after: Option<String>,
    /// Compare with this snapshot instead of the newest with the same host and paths.
    #[arg(long)]
    pub parent: Option<String>,
    /// Read every file, even if unchanged since the parent snapshot.
    #[arg(long)]
    pub force: bool,
    /// Save a snapshot even when the excludes left nothing to back up
    /// (without it such a backup saves nothing and exits 3).
    #[arg(long)]
    pub allow_empty: bool,
    /// Back up this SQLite database as a consistent snapshot, wherever it is
    /// (repeatable); exits 2 if it is not a SQLite database.
    #[arg(long, value_name = "PATH", conflicts_with = "stdin")]
    pub sqlite: Vec<PathBuf>,
    /// Do not recognise SQLite databases in the tree: store their raw bytes
    /// and their -wal/-shm/-journal files.
    #[arg(long)]
    pub no_sqlite: bool,
    /// How to check each database snapshot: quick_check, integrity_check, or none.
    #[arg(long, value_enum, default_value = "quick")]
    pub sqlite_check: SqliteCheckArg,
    #[command(flatten)]
    pub bucket: crate::cli::backup::bucket::BucketArgs,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteCheckArg {
    Quick,
    Full,
    None,
}

#[derive(Args, Debug)]
pub struct SnapshotsArgs {
    #[command(flatten)]
    pub filter: Filter,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverwriteArg {
    Never,
    IfChanged,
    Always,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// SNAPSHOT or SNAPSHOT:path (an id prefix or "latest").
    pub snapshot: String,
    /// Directory to restore into, or a bucket: s3:https://ENDPOINT/BUCKET[/PREFIX],
    /// s3:BUCKET[/PREFIX] or r2:ACCOUNT_ID/BUCKET[/PREFIX] (credentials from
    /// CAIRN_TARGET_ACCESS_KEY_ID/CAIRN_TARGET_SECRET_ACCESS_KEY; `./s3:x` is a directory).
    #[arg(short, long, required_unless_present = "in_place")]
    pub target: Option<PathBuf>,
    /// Replace the live files at their original paths: stage and verify
    /// beside each, back up the files replaced (tag pre-restore), then
    /// rename into place. Rerun the same command to finish an interrupted one.
    #[arg(long, conflicts_with_all = ["target", "overwrite", "verify"])]
    pub in_place: bool,
    /// Shell command to run before anything is written (with --in-place:
    /// before the first file is replaced, e.g. to stop a service); its
    /// failure stops the restore (exit 7).
    #[arg(long, value_name = "CMD")]
    pub hook_before: Option<String>,
    /// Shell command to run after the restore, whatever its outcome
    /// (CAIRN_RESULT=ok|failed), once --hook-before succeeded.
    #[arg(long, value_name = "CMD")]
    pub hook_after: Option<String>,
    /// Restore only paths matching this pattern (repeatable).
    #[arg(short, long)]
    pub include: Vec<String>,
    /// Leave out paths matching this pattern (repeatable).
    #[arg(short, long)]
    pub exclude: Vec<String>,
    /// Only files (objects) modified at or after this time (an object's
    /// original LastModified), e.g. "2026-11-01" or an RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    pub newer_than: Option<String>,
    /// Only files (objects) modified before this time.
    #[arg(long, value_name = "TIME")]
    pub older_than: Option<String>,
    #[command(flatten)]
    pub bucket: TargetBucketArgs,
    /// With "latest": the newest snapshot at or before this time.
    #[arg(long)]
    pub as_of: Option<String>,
    #[command(flatten)]
    pub filter: Filter,
    /// Re-read every restored file and check it against the snapshot.
    #[arg(long)]
    pub verify: bool,
    /// What to do with files that already exist in the target.
    #[arg(long, value_enum, default_value_t = OverwriteArg::Never)]
    pub overwrite: OverwriteArg,
    /// Say what would be restored, write nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
}

/// Settings of a bucket restore target (not the repository's).
#[derive(Args, Debug, Clone)]
pub struct TargetBucketArgs {
    /// Region of the target bucket [env: CAIRN_TARGET_REGION].
    #[arg(long, value_name = "REGION")]
    pub target_region: Option<String>,
    /// Address the target bucket path-style (ENDPOINT/BUCKET; the default
    /// for IP and localhost endpoints).
    #[arg(long)]
    pub target_path_style: bool,
    /// Uploads in flight to the target bucket.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub target_connections: usize,
    /// File holding the target's access key id (else CAIRN_TARGET_ACCESS_KEY_ID).
    #[arg(long, value_name = "FILE", requires = "target_secret_access_key_file")]
    pub target_access_key_id_file: Option<PathBuf>,
    /// File holding the target's secret key (else CAIRN_TARGET_SECRET_ACCESS_KEY).
    #[arg(long, value_name = "FILE", requires = "target_access_key_id_file")]
    pub target_secret_access_key_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// SNAPSHOT or SNAPSHOT:path.
    pub snapshot: String,
    /// Long listing: mode, owner, size, time.
    #[arg(short, long)]
    pub long: bool,
    #[command(flatten)]
    pub filter: Filter,
}

#[derive(Args, Debug)]
pub struct DumpArgs {
    /// SNAPSHOT:path of a file (with --archive also of a directory, or the whole snapshot).
    pub target: String,
    /// Write it as an archive (tar keeps everything; zip loses devices, fifos and hard links).
    #[arg(long, value_enum)]
    pub archive: Option<crate::cli::browse::ArchiveArg>,
    /// Write to this file instead of standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub filter: Filter,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatKind {
    Config,
    Key,
    Snapshot,
    Tree,
    Index,
    Pack,
}

#[derive(Args, Debug)]
pub struct CatArgs {
    /// What to print.
    #[arg(value_enum)]
    pub kind: CatKind,
    /// Its id (a snapshot also takes "latest" or a prefix; a tree takes SNAPSHOT[:path]).
    pub id: Option<String>,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Also download every pack and verify every blob in it.
    #[arg(long)]
    pub read_data: bool,
    /// Read only part of the packs (implies --read-data): N/M for the N-th of M
    /// slices, a percentage (5%) or a size (500MiB, 2GiB).
    #[arg(long, value_name = "SPEC")]
    pub read_data_subset: Option<cairn::check::Subset>,
    /// Rolling audit: verify the packs verified longest ago (never-verified
    /// first), record it in the repository's audit log, report coverage.
    #[arg(long, conflicts_with_all = ["read_data", "read_data_subset"])]
    pub audit: bool,
    /// With --audit: how much to read per run: N/M of the packs (1/30 daily
    /// covers everything monthly), a percentage (5%) or a size (2GiB).
    #[arg(long, value_name = "SPEC", requires = "audit")]
    pub budget: Option<cairn::check::Budget>,
}
