//! Shared set-up of the recorder's integration tests.

use mlx_record::config::{DType, Geometry, Preset};
use mlx_record::cost::CostModel;
use mlx_record::model::{Inputs, Model, Weights};
use trace_format::ModelConfig;

/// The tiny preset with random weights and inputs, and its cost model.
pub struct Tiny {
    pub config: ModelConfig,
    pub geometry: Geometry,
    pub model: Model,
    pub inputs: Inputs,
    pub costs: CostModel,
}

/// `frames` x `height` x `width` on the tiny preset in `dtype`; weights and inputs from their seeds.
pub fn tiny(frames: u32, height: u32, width: u32, dtype: DType, weight_seed: u64, input_seed: u64) -> Tiny {
    let config = Preset::Tiny.config();
    let geometry = Geometry::new(frames, height, width).unwrap();
    let model = Model::new(config.clone(), dtype, Weights::synthetic(&config, dtype, weight_seed).unwrap());
    let inputs = Inputs::synthetic(&config, geometry, dtype, input_seed).unwrap();
    let costs = CostModel::new(&config, geometry.tokens(), dtype.size());
    Tiny { config, geometry, model, inputs, costs }
}
