//! A memory pool that caps what any one spillable operator may hold. DataFusion 55's sort
//! keeps the rows of a sort that fitted in memory outside the pool's reach (not spillable)
//! while its output is read; under a plain fair pool a lone sort may fill the whole pool
//! that way, and the next operator cannot get a batch ("Not enough memory to continue
//! external sort"), at any pool size once the input is large enough. With a cap, a sort
//! spills at the cap, so what it keeps unspillable is at most the cap, and the run's memory
//! is bounded by the pool whatever the input. The pool also keeps its peak, which the report
//! gives against `--memory-limit`.

use datafusion::common::{Result, resources_datafusion_err};
use datafusion::execution::memory_pool::{
    FairSpillPool, MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation, TrackConsumersPool,
};
use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Consumers named when the memory pool is exhausted (in the error, largest first).
const CONSUMERS_NAMED: NonZeroUsize = NonZeroUsize::new(5).unwrap();

/// The most a pool held at once, read after the queries: what a run needed of its limit.
#[derive(Debug, Clone, Default)]
pub struct Peak(Arc<AtomicUsize>);

impl Peak {
    /// Bytes.
    pub fn bytes(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    fn saw(&self, reserved: usize) {
        self.0.fetch_max(reserved, Ordering::Relaxed);
    }
}

/// The embedded engine's pool: `limit` bytes, spilled fairly, each spillable operator capped,
/// the largest consumers named when it runs out, and its peak kept.
pub fn shared(limit: usize) -> (Arc<dyn MemoryPool>, Peak) {
    let capped = CappedPool::new(FairSpillPool::new(limit), limit);
    let peak = capped.peak.clone();
    (
        Arc::new(TrackConsumersPool::new(capped, CONSUMERS_NAMED)),
        peak,
    )
}

/// The share of the pool one spillable operator may hold (1 / this).
pub const SHARES: usize = 16;

/// A pool whose spillable reservations are each capped at `limit / SHARES`.
#[derive(Debug)]
pub struct CappedPool<P> {
    inner: P,
    cap: usize,
    peak: Peak,
}

impl<P: MemoryPool> CappedPool<P> {
    /// Wrap `inner`, whose limit is `limit` bytes.
    pub fn new(inner: P, limit: usize) -> Self {
        CappedPool {
            inner,
            cap: (limit / SHARES).max(1),
            peak: Peak::default(),
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
        self.peak.saw(self.inner.reserved());
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
        self.inner.try_grow(reservation, additional)?;
        self.peak.saw(self.inner.reserved());
        Ok(())
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

    #[test]
    fn the_peak_is_the_most_held_at_once_not_the_sum_of_growths() {
        let (pool, peak) = shared(1 << 20);
        let a = MemoryConsumer::new("a").register(&pool);
        let b = MemoryConsumer::new("b").register(&pool);
        a.try_grow(300).unwrap();
        b.try_grow(200).unwrap();
        b.free();
        b.grow(100);
        assert_eq!(peak.bytes(), 500);
        assert_eq!(pool.reserved(), 400);
    }
}
