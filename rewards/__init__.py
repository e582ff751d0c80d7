"""PPOCoder rewards: execution feedback, structural match, CodeBLEU and their composition."""
