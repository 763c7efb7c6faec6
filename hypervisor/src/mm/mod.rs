//! Memory management: physical frames and translation tables.
pub mod frames;
pub mod page_table;
