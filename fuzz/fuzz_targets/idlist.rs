//! Fuzz target `idlist`: see `cairn::format::fuzz` for the input layout.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cairn::format::fuzz::run("idlist", data);
});
