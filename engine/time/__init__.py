"""Time: the one clock, the business calendar, time lights, the BPMN timers and the scheduler that fires them."""
