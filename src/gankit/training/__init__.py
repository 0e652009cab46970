"""What every training run needs, written once: the runtime (device, precision, optimizers,
schedules, run directories, the stop flag) and the batch samplers. See DESIGN.md, "One engine"."""
