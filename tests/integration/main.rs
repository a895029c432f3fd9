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
mod golden_spec;
mod hostile;
mod mount;
mod prune;
mod prune_concurrent;
mod readme_facts;
mod repair;
mod roundtrip;
mod selection;
mod spec_rules;
mod util;
mod util_backend;
