import EngineCLI
