//! The `tokaudit` binary: everything lives in the library.

/// A reconcile build allocates through jemalloc: under glibc's malloc the Arrow batches that
/// DataFusion frees on many threads stayed in per-thread arenas, and the process's peak grew
/// with the input far above what the memory pool held (`docs/reconcile.md`, "Memory").
#[cfg(all(feature = "reconcile", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    tokaudit::commands::main()
}
