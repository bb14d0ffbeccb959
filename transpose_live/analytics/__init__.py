"""Movement analytics on tracked poses: joint angles (`angles`), exercises (`exercises`), repetition
counting (`reps`), zero-lag smoothing of recorded files (`smoothing`), a recorded run's analysis
(`analysis`), its files (`outputs`: angles CSV, rep events JSONL, OpenSim TRC), plots (`plots`) and the
live overlay of `video` / `webcam --exercise` (`live`)."""
