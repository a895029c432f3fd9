//! Hostile inputs: a typed error or a failed check, never a panic or a hang.
