"""The workload: the corpus, its reader and tokenizer, the dataset, the variants, the fingerprint, the FLOPs, the model and its LightningModule."""
