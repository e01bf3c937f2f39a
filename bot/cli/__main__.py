from bot.cli import main

# Guarded: report processes are spawned, and a spawned process imports this module again.
if __name__ == "__main__":
    main()
