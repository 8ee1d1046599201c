"""Models: BaseModel, KerasBaseModel, the ModelFactory and its architectures."""
