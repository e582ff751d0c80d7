"""PPOCoder rewards: execution feedback, structural match, CodeBLEU and their composition."""

from rewards.composite import RewardBreakdown, RewardConfig, Sample, score

__all__ = ["RewardBreakdown", "RewardConfig", "Sample", "score"]
