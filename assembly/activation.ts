// placeholder: kernels for this op family land here
