"""Label quality: agreement (more to come: gold items, adjudication, label-error detection, gates)."""
