//! End-to-end tests of the `cairn` binary and library on real directories.

mod backend;
mod check;
mod cli;
mod crash;
mod damage;
mod faults;
mod golden;
mod hostile;
mod roundtrip;
mod selection;
mod util;
mod util_backend;
