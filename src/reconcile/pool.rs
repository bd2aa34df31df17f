//! A memory pool that caps what any one spillable operator may hold. DataFusion 55's sort
//! keeps the rows of a sort that fitted in memory outside the pool's reach (not spillable)
//! while its output is read; under a plain fair pool a lone sort may fill the whole pool
//! that way, and the next operator cannot get a batch ("Not enough memory to continue
//! external sort"), at any pool size once the input is large enough. With a cap, a sort
//! spills at the cap, so what it keeps unspillable is at most the cap, and the run's memory
//! is bounded by the pool whatever the input.

use datafusion::common::{Result, resources_datafusion_err};
use datafusion::execution::memory_pool::{
    FairSpillPool, MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation, TrackConsumersPool,
};
use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;

/// Consumers named when the memory pool is exhausted (in the error, largest first).
const CONSUMERS_NAMED: NonZeroUsize = NonZeroUsize::new(5).unwrap();

/// The pool of one process (the embedded engine, or a Ballista executor shared by all its
/// tasks): `limit` bytes, spilled fairly, each spillable operator capped, and the largest
/// consumers named when it runs out.
pub fn shared(limit: usize) -> Arc<dyn MemoryPool> {
    Arc::new(TrackConsumersPool::new(
        CappedPool::new(FairSpillPool::new(limit), limit),
        CONSUMERS_NAMED,
    ))
}

/// The share of the pool one spillable operator may hold (1 / this).
pub const SHARES: usize = 16;

/// A pool whose spillable reservations are each capped at `limit / SHARES`.
#[derive(Debug)]
pub struct CappedPool<P> {
    inner: P,
    cap: usize,
}

impl<P: MemoryPool> CappedPool<P> {
    /// Wrap `inner`, whose limit is `limit` bytes.
    pub fn new(inner: P, limit: usize) -> Self {
        CappedPool {
            inner,
            cap: (limit / SHARES).max(1),
        }
    }
}

impl<P: MemoryPool> fmt::Display for CappedPool<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} with each spillable operator capped at {} bytes",
            self.inner, self.cap
        )
    }
}

impl<P: MemoryPool> MemoryPool for CappedPool<P> {
    fn name(&self) -> &str {
        "capped"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.inner.register(consumer);
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.inner.unregister(consumer);
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.inner.grow(reservation, additional);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.inner.shrink(reservation, shrink);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        let consumer = reservation.consumer();
        if consumer.can_spill() && reservation.size() + additional > self.cap {
            return Err(resources_datafusion_err!(
                "{} would hold {} bytes, above its cap of {} (it spills)",
                consumer.name(),
                reservation.size() + additional,
                self.cap
            ));
        }
        self.inner.try_grow(reservation, additional)
    }

    fn reserved(&self) -> usize {
        self.inner.reserved()
    }

    fn memory_limit(&self) -> MemoryLimit {
        self.inner.memory_limit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::memory_pool::GreedyMemoryPool;
    use std::sync::Arc;

    #[test]
    fn a_spillable_operator_is_refused_past_its_share_and_others_are_not() {
        let pool: Arc<dyn MemoryPool> =
            Arc::new(CappedPool::new(GreedyMemoryPool::new(1600), 1600));
        let sort = MemoryConsumer::new("sort")
            .with_can_spill(true)
            .register(&pool);
        assert!(sort.try_grow(100).is_ok());
        let refused = sort.try_grow(1).unwrap_err().to_string();
        assert!(refused.contains("above its cap of 100"), "{refused}");
        let merge = MemoryConsumer::new("merge").register(&pool);
        assert!(merge.try_grow(1_000).is_ok());
        assert!(
            merge.try_grow(1_000).is_err(),
            "the pool's own limit still holds"
        );
    }
}
