"""QLoRA fine-tuning on a curated split: config, pure builders, pre-flight, run, merge.

Public entry points (heavy libraries are imported inside them, so importing ``train`` is cheap):

- ``train.config.load_config(path, overrides)`` -> ``TrainConfig``
- ``train.builders.get_quantization_config / get_peft_config / get_sft_config``
- ``train.run.train_model(data, out, cfg)`` -> metrics dict
- ``train.merge.merge_adapter(adapter, out, ollama=...)``
- ``train.demo_model.build_demo_model(out_dir)``
"""
