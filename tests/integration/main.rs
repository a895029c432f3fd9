//! End-to-end tests of the `cairn` binary and library on real directories.

mod audit;
mod check;
mod cli;
mod crash;
mod damage;
mod golden;
mod hostile;
mod repair;
mod roundtrip;
mod selection;
mod util;
