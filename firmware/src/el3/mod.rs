//! EL3 proper: reset entry, exception vectors, saved contexts and world
//! switches, per-CPU controls.

pub mod context;
pub mod dispatch;
pub mod percpu;
pub mod setup;
pub mod start;
pub mod vectors;
