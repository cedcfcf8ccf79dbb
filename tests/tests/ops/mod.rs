// shared helpers for other operator tests
