//! Memory management: physical frames, translation tables, the heap.
pub mod frames;
pub mod heap;
pub mod page_table;
pub mod stage2_geometry;
