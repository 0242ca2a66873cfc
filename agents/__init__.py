"""Reference agents for TextGeneration-v0: REINFORCE, A2C and PPO on one LSTM-attention policy."""

from agents.policy import ActorCritic, PolicyConfig

__all__ = ["ActorCritic", "PolicyConfig"]
