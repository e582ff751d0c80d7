"""PPOCoder trainer: `python -m trainer.ppo` runs PPO with PPOCoder rewards."""
