//! What every subcommand returns: nothing, or an error whose `Display` says what to do.
//! A leaf of its own so the subcommand files need nothing from `main.rs`.

/// A subcommand's outcome.
pub type Res = Result<(), Box<dyn std::error::Error>>;
