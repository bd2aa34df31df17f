//! `tokaudit reconcile`: the billing records of traffic tokaudit did not send, audited against
//! each other at any scale. The pipeline, in module order: [`source`] lists and reads files
//! where they live (local folders, `s3://` prefixes) → [`row`] turns each record of each
//! source into one normalized row (Bedrock convention, input without cache), counting every
//! malformed record with its file and line → [`stage`] writes the rows as Parquet in a work
//! folder, in constant memory → [`engine`] registers them as tables on DataFusion (embedded
//! under a [`pool`] that bounds what each operator holds, or Ballista) and runs the shipped [`checks`] and the user's `.sql` files → a
//! [`Reconciliation`] for the renderers. [`generate`] writes realistic logs with injected
//! discrepancies and their ground truth, for tests and benchmarks.

pub mod checks;
pub mod engine;
pub mod export;
pub mod generate;
pub mod pool;
pub mod recordings;
pub mod row;
pub mod source;
pub mod stage;

pub use engine::{Engine, Reconciliation};
pub use row::{Malformed, Row, SourceKind};
