// Placeholder until the inference module lands; replaced by its first real file.
