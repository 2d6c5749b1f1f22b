//! Shared set-up of the in-crate tests: the tiny model, and the lock that runs MLX work one test
//! at a time.

use std::sync::{Mutex, MutexGuard};

use trace_format::ModelConfig;

use crate::config::{DType, Geometry, Preset};
use crate::cost::CostModel;
use crate::model::{Inputs, Model, Weights};

/// In-process recordings one at a time: MLX's peak-memory counter is global to the process, so a
/// recording on another test thread resets it between this one's forward and its reading (a run
/// then reads a peak of 0 bytes). Every test of this binary that runs MLX work takes it: the
/// tests that were separate test binaries (one process each) now share one process.
static SERIAL: Mutex<()> = Mutex::new(());

pub(crate) fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// The tiny preset with random weights and inputs, and its cost model.
pub(crate) struct Tiny {
    pub(crate) config: ModelConfig,
    pub(crate) geometry: Geometry,
    pub(crate) model: Model,
    pub(crate) inputs: Inputs,
    pub(crate) costs: CostModel,
}

/// `frames` x `height` x `width` on the tiny preset in `dtype`; weights and inputs from their seeds.
pub(crate) fn tiny(frames: u32, height: u32, width: u32, dtype: DType, weight_seed: u64, input_seed: u64) -> Tiny {
    let config = Preset::Tiny.config();
    let geometry = Geometry::new(frames, height, width).unwrap();
    let model = Model::new(config.clone(), dtype, Weights::synthetic(&config, dtype, weight_seed).unwrap());
    let inputs = Inputs::synthetic(&config, geometry, dtype, input_seed).unwrap();
    let costs = CostModel::new(&config, geometry.tokens(), dtype.size());
    Tiny { config, geometry, model, inputs, costs }
}
