//! End-to-end tests of the `cairn` binary and library on real directories.

mod archive;
mod audit;
mod backend;
mod bundle;
mod check;
mod cli;
mod crash;
mod damage;
mod diff;
mod faults;
mod find;
mod forget;
mod golden;
mod hostile;
mod interrupt;
mod mount;
mod prune;
mod prune_concurrent;
mod repair;
mod roundtrip;
mod selection;
mod stale_lock;
mod util;
mod util_backend;
