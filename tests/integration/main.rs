//! End-to-end tests of the `cairn` binary and library on real directories.

mod archive;
mod bundle;
mod check;
mod cli;
mod crash;
mod damage;
mod diff;
mod find;
mod golden;
mod hostile;
mod roundtrip;
mod selection;
mod util;
