"""The Gaussian-mixture objectives: every module here registers its objectives when imported
(flowsim.families.load_objectives), so a new objective is a new module in this folder."""
