//! End-to-end tests of the `cairn` binary and library on real directories.

mod audit;
mod backend;
mod archive;
mod bundle;
mod check;
mod cli;
mod crash;
mod damage;
mod faults;
mod forget;
mod diff;
mod find;
mod golden;
mod hostile;
mod prune;
mod prune_concurrent;
mod repair;
mod mount;
mod roundtrip;
mod selection;
mod util;
