//! Checked program to [`Plan`].
//!
//! In: a [`Program`] (which exists only when checking found no error). Out: the [`Plan`] the
//! engine executes.
//!
//! Guarantees: pure lowering, no new failure modes: everything that could fail was checked
//! before. Declaration order is kept for projections and single views.

use fdc_plan::{Plan, PLAN_VERSION};

use crate::check::Program;

/// Lowers a checked program.
pub fn compile(program: &Program) -> Plan {
    Plan {
        version: PLAN_VERSION,
        projections: program.projections.iter().map(|p| p.plan.clone()).collect(),
        single_views: program.views.iter().map(|v| v.plan.clone()).collect(),
    }
}
