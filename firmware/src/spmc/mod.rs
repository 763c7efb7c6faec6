//! The FF-A SPMC (placeholder until stage 2).

use crate::el3::context::Context;
use crate::smccc::NOT_SUPPORTED;

pub fn normal_world_call(ctx: *mut Context) {
    // SAFETY: the current context belongs to this CPU while EL3 runs.
    let frame = unsafe { &mut (*ctx).frame };
    frame.x[0] = NOT_SUPPORTED;
}

pub fn partition_call(ctx: *mut Context) {
    normal_world_call(ctx)
}
