//! `cairn serve`: the backup service. A second thin front end beside
//! `cli/` over the same library: the configuration (`crate::config`) names
//! plans; the scheduler turns them into jobs; the job runner calls the
//! library functions the CLI calls; the history records every job in
//! SQLite; the API (axum), the metrics and the notifications read and
//! announce it.

pub mod auth;
pub mod model;
