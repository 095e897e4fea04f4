"""The two sides behind one interface: the shared initialisation, the built-in manual side, a bring-your-own class, and the torch twin."""
