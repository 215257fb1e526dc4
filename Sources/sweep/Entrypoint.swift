import SweepCLI
