"""The relay clock: one process writes the ticks every deadline of the relay is judged by,
onto every partition participants send to and onto the clock topic they read."""
