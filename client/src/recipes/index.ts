/**
 * Recipes on top of the client, after Apache Curator and kazoo: locks, leader election,
 * semaphores, barriers, queues, counters, group membership and caches. Exclusive rights come with
 * a fencing token (the czxid of the node that holds them), and every waiter watches one node.
 */
export { Mutex, ReadWriteLock, SequentialLock, type AcquireOptions, type LockOptions, type Participant } from './lock.js';
export { LeaderElection, LeaderLatch, type Leadership } from './election.js';
export { Semaphore, type SemaphoreLease } from './semaphore.js';
export { Barrier, DoubleBarrier, type WaitOptions } from './barrier.js';
export { DistributedQueue, DistributedPriorityQueue, type QueueOptions, type TakeOptions } from './queue.js';
export { DistributedCounter } from './counter.js';
export { Group, GroupMember } from './group.js';
export { TreeCache, NodeCache, type CachedNode, type CacheEvent, type TreeCacheOptions } from './cache.js';
