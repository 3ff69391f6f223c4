// placeholder: host wrappers for this op family land here
export {};
