//! The `tokaudit` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    tokaudit::commands::main()
}
