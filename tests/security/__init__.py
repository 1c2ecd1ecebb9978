"""Input limits, flood limiting, log masking and the Rasa HTTP API switch."""
